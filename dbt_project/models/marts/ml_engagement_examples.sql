-- Training examples for the engagement model: one row per notification sent on ds, with
-- features as of the end of ds - 1 (the user, pin and affinity snapshots of day ds) and
-- the labels opened_24h / clicked_24h. A send's labels are final once the next day has
-- landed (is_label_mature), so a daily run rebuilds yesterday's and today's sends.
{%- set channels = domain_var('channels') %}
with

sends as (
    select * from {{ ref('int_notification_outcomes') }}
    where {{ in_build_window('ds', lookback_days=1) }}
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
        sends.notification_id,
        sends.user_id,
        sends.ds,
        sends.sent_at,
        sends.policy_name,
        sends.propensity,
        sends.featured_pin_id,

        -- context
        sends.channel,
        sends.notification_type,
        cast(sends.item_count as bigint) as item_count,
        cast(extract(hour from sends.sent_local_at) as bigint) as local_send_hour,
        cast({{ day_of_week('sends.sent_local_at') }} as bigint) as day_of_week,

        -- user
        user_features.platform,
        user_features.country,
        user_features.age_bucket,
        user_features.tenure_days as user_tenure_days,
        user_features.organic_events_1d as user_events_1d,
        user_features.organic_events_7d as user_events_7d,
        user_features.organic_events_28d as user_events_28d,
        user_features.active_days_28d as user_active_days_28d,
        user_features.days_since_last_active,
        user_features.notification_sends_1d as user_sends_1d,
        user_features.notification_sends_7d as user_sends_7d,
        user_features.notification_opens_7d as user_opens_7d,
        user_features.notification_sends_28d as user_sends_28d,
        user_features.notification_opens_28d as user_opens_28d,
        user_features.open_rate_28d as user_open_rate_28d,
        cast(user_features.days_since_last_open as {{ double_type() }}) as days_since_last_open,

        -- user on this channel
        case sends.channel
            {%- for channel in channels %}
            when '{{ channel }}' then user_features.{{ channel }}_sends_1d
            {%- endfor %}
        end as channel_sends_1d,
        case sends.channel
            {%- for channel in channels %}
            when '{{ channel }}' then user_features.{{ channel }}_sends_7d
            {%- endfor %}
        end as channel_sends_7d,
        case sends.channel
            {%- for channel in channels %}
            when '{{ channel }}' then user_features.{{ channel }}_open_rate_28d
            {%- endfor %}
        end as channel_open_rate_28d,

        -- user and the featured pin's topic
        coalesce(sends.featured_pin_topic, 'unknown') as pin_topic,
        coalesce(affinity.affinity_7d, 0) as user_topic_affinity_7d,
        coalesce(affinity.affinity_28d, 0) as user_topic_affinity_28d,
        cast({{ smoothed_rate('affinity.notification_opens_28d', 'affinity.notification_sends_28d') }}
            as {{ double_type() }}) as topic_open_rate_28d,

        -- featured pin
        coalesce(pin_features.pin_age_days, 0) as pin_age_days,
        coalesce(pin_features.impressions_7d, 0) as pin_impressions_7d,
        coalesce(pin_features.saves_7d, 0) as pin_saves_7d,
        coalesce(pin_features.click_rate_7d,
            {{ smoothed_rate('0', '0', var('click_rate_prior'), var('click_rate_prior_strength')) }})
            as pin_click_rate_7d,
        coalesce(pin_features.popularity_28d, 0) as pin_popularity_28d,
        coalesce(pin_features.creator_pin_count, 0) as creator_pin_count,
        coalesce(pin_features.creator_saves_28d, 0) as creator_saves_28d,

        -- labels
        cast(sends.is_opened_24h as bigint) as opened_24h,
        cast(sends.is_clicked_24h as bigint) as clicked_24h,
        sends.ds < newest_landed_day.ds as is_label_mature
    from sends
    cross join newest_landed_day
    inner join user_features
        on sends.user_id = user_features.user_id and sends.ds = user_features.ds
    left join pin_features
        on sends.featured_pin_id = pin_features.pin_id and sends.ds = pin_features.ds
    left join affinity
        on sends.user_id = affinity.user_id
        and sends.featured_pin_topic = affinity.topic
        and sends.ds = affinity.ds
)

select * from examples
