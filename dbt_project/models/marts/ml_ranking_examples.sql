-- Training examples for the ranking model: one row per item of a digest (a notification
-- carrying a list of pins), keyed by the list (notification_id) and the item's position,
-- with user, pin and user-topic features as of the end of ds - 1 and the label
-- clicked_24h. Rebuilt, like the engagement examples, for yesterday's and today's sends.
with

items as (
    select * from {{ ref('int_notification_items') }}
    where notification_type = 'digest' and {{ in_build_window('ds', lookback_days=1) }}
),

list_sizes as (
    select notification_id, count(*) as list_size
    from items
    group by notification_id
),

user_features as (
    select * from {{ ref('user_features_daily') }}
    where {{ in_build_window('ds', lookback_days=1) }}
),

pin_features as (
    select * from {{ ref('pin_features_daily') }}
    where {{ in_build_window('ds', lookback_days=1) }}
),

affinity as (
    select * from {{ ref('int_user_topic_affinity') }}
    where {{ in_build_window('ds', lookback_days=1) }}
),

newest_landed_day as (
    select {{ landed_day_bound('max') }} as ds
),

examples as (
    select
        items.notification_id as list_id,
        items.notification_id,
        cast(items.item_position as bigint) as item_position,
        items.pin_id,
        items.user_id,
        items.ds,
        items.channel,
        cast(list_sizes.list_size as bigint) as list_size,

        -- user
        user_features.platform,
        user_features.country,
        user_features.organic_events_7d as user_events_7d,
        user_features.organic_events_28d as user_events_28d,
        user_features.open_rate_28d as user_open_rate_28d,

        -- pin and the user's affinity to its topic
        coalesce(items.pin_topic, 'unknown') as pin_topic,
        coalesce(affinity.affinity_7d, 0) as user_topic_affinity_7d,
        coalesce(affinity.affinity_28d, 0) as user_topic_affinity_28d,
        coalesce(pin_features.pin_age_days, 0) as pin_age_days,
        coalesce(pin_features.impressions_7d, 0) as pin_impressions_7d,
        coalesce(pin_features.saves_7d, 0) as pin_saves_7d,
        coalesce(pin_features.click_rate_7d,
            {{ smoothed_rate('0', '0', var('click_rate_prior'), var('click_rate_prior_strength')) }})
            as pin_click_rate_7d,
        coalesce(pin_features.popularity_28d, 0) as pin_popularity_28d,
        coalesce(pin_features.creator_saves_28d, 0) as creator_saves_28d,

        -- label
        cast(case when items.clicked_at is not null then 1 else 0 end as bigint) as clicked_24h,
        items.ds < newest_landed_day.ds as is_label_mature
    from items
    cross join newest_landed_day
    inner join list_sizes on items.notification_id = list_sizes.notification_id
    inner join user_features
        on items.user_id = user_features.user_id and items.ds = user_features.ds
    left join pin_features on items.pin_id = pin_features.pin_id and items.ds = pin_features.ds
    left join affinity
        on items.user_id = affinity.user_id
        and items.pin_topic = affinity.topic
        and items.ds = affinity.ds
)

select * from examples
