-- Training examples for the engagement model: one row per notification sent on ds, with
-- features as of the end of ds - 1 (the user, pin and affinity snapshots of day ds) and
-- the labels opened_24h / clicked_24h. A send's labels are final once the next day has
-- landed (is_label_mature), so a daily run rebuilds yesterday's and today's sends.
-- The features of the (user, channel, featured pin, ds) are the engagement features of
-- macros/features.sql, which also computes them for tomorrow's send options
-- (ml_send_options); the send's local hour and day of week come from its send time.
with

sends as (
    select * from {{ ref('int_notification_outcomes') }}
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

        -- the user, the user on this channel, the featured pin and the user's affinity to its topic
        {{ engagement_feature_columns(channel='sends.channel') }},

        -- labels
        cast(sends.is_opened_24h as bigint) as opened_24h,
        cast(sends.is_clicked_24h as bigint) as clicked_24h,
        sends.ds < newest_landed_day.ds as is_label_mature
    from sends
    cross join newest_landed_day
    {{ engagement_feature_joins(
        'sends', build_start(lookback_days=1), build_end(), pin_id='featured_pin_id'
    ) }}
)

select * from examples
