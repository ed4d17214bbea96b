-- Training examples for the ranking model: one row per item of a digest (a notification
-- carrying a list of pins), keyed by the list (notification_id) and the item's position,
-- with user, pin, user-topic and user-pin features as of the end of ds - 1 and the label
-- clicked_24h. item_position is the logged position: the ranker uses it in training
-- only, to absorb position bias (candidates scored for a new list have none yet).
-- Rebuilt, like the engagement examples, for yesterday's and today's sends.
{%- set window_days = domain_var('feature_window_days') %}
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

-- pins sent to or saved by each user in the feature window before the rebuilt days
user_pins as (
    select user_id, pin_id, ds as interaction_ds
    from {{ ref('int_user_pin_daily') }}
    where
        ds between {{ add_days(build_start(lookback_days=1), -window_days) }}
        and {{ build_end(lead_days=-1) }}
),

-- items whose pin the user was sent or saved in the feature window before the send day;
-- equality on (user, pin) first, then the window: a hash join, not a range join
seen_items as (
    select distinct items.notification_id, items.item_position
    from items
    inner join user_pins
        on items.user_id = user_pins.user_id and items.pin_id = user_pins.pin_id
    where {{ in_days_before('user_pins.interaction_ds', 'items.ds', window_days) }}
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
        coalesce(affinity.engagements_7d, 0) as user_topic_engagements_7d,
        coalesce(affinity.engagements_28d, 0) as user_topic_engagements_28d,
        coalesce(pin_features.pin_age_days, 0) as pin_age_days,
        coalesce(pin_features.impressions_7d, 0) as pin_impressions_7d,
        coalesce(pin_features.saves_7d, 0) as pin_saves_7d,
        coalesce(pin_features.click_rate_7d,
            {{ smoothed_rate('0', '0', var('click_rate_prior'), var('click_rate_prior_strength')) }})
            as pin_click_rate_7d,
        coalesce(pin_features.click_rate_28d,
            {{ smoothed_rate('0', '0', var('click_rate_prior'), var('click_rate_prior_strength')) }})
            as pin_click_rate_28d,
        coalesce(pin_features.save_rate_28d,
            {{ smoothed_rate('0', '0', var('save_rate_prior'), var('save_rate_prior_strength')) }})
            as pin_save_rate_28d,
        coalesce(pin_features.popularity_28d, 0) as pin_popularity_28d,
        coalesce(pin_features.creator_pin_count, 0) as creator_pin_count,
        coalesce(pin_features.creator_saves_28d, 0) as creator_saves_28d,

        -- the user and the pin: sent to the user or saved by them before the cut-off
        seen_items.notification_id is not null as has_seen_pin_before,

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
    left join seen_items
        on items.notification_id = seen_items.notification_id
        and items.item_position = seen_items.item_position
)

select * from examples
