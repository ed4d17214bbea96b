-- One row per notification sent: features as of the end of the day before the
-- send (point-in-time correct) and the label opened-within-24h.
with

notifications as (
    select * from {{ ref('stg_raw__notifications') }}
),

users as (
    select * from {{ ref('stg_raw__users') }}
),

items as (
    select * from {{ ref('stg_raw__notification_items') }}
),

pins as (
    select * from {{ ref('stg_raw__pins') }}
),

outcomes as (
    select * from {{ ref('int_notification_outcomes') }}
),

activity as (
    select * from {{ ref('int_user_notification_activity_daily') }}
),

sends as (
    select
        notifications.notification_id,
        notifications.user_id,
        notifications.ds,
        notifications.sent_at,
        notifications.channel,
        notifications.propensity,
        pins.topic as pin_topic
    from notifications
    -- the featured pin is the top item (position 1)
    left join items
        on notifications.notification_id = items.notification_id
        and items.item_position = 1
    left join pins on items.pin_id = pins.pin_id
),

-- Only activity strictly before the send day, within 28 days.
history as (
    select
        sends.notification_id,
        sum(case when activity.activity_date >= {{ dbt.dateadd('day', -7, 'sends.ds') }}
            then activity.sends_count end) as user_sends_7d,
        sum(case when activity.activity_date >= {{ dbt.dateadd('day', -7, 'sends.ds') }}
            then activity.opens_count end) as user_opens_7d,
        sum(activity.sends_count) as user_sends_28d,
        sum(activity.opens_count) as user_opens_28d,
        sum(case when activity.channel = sends.channel
            and activity.activity_date >= {{ dbt.dateadd('day', -7, 'sends.ds') }}
            then activity.sends_count end) as channel_sends_7d,
        sum(case when activity.channel = sends.channel then activity.sends_count end)
            as channel_sends_28d,
        sum(case when activity.channel = sends.channel then activity.opens_count end)
            as channel_opens_28d,
        sum(case when activity.topic = sends.pin_topic then activity.sends_count end)
            as topic_sends_28d,
        sum(case when activity.topic = sends.pin_topic then activity.opens_count end)
            as topic_opens_28d,
        max(case when activity.opens_count > 0 then activity.activity_date end) as last_open_date
    from sends
    inner join activity
        on sends.user_id = activity.user_id
        and activity.activity_date < sends.ds
        and activity.activity_date >= {{ dbt.dateadd('day', -28, 'sends.ds') }}
    group by sends.notification_id
),

examples as (
    select
        sends.notification_id,
        sends.user_id,
        sends.ds,
        sends.sent_at,
        sends.propensity,

        sends.channel,
        users.platform,
        users.country,
        coalesce(sends.pin_topic, 'unknown') as pin_topic,

        cast(extract(hour from {{ dbt.dateadd('hour', 'users.tz_offset_hours', 'sends.sent_at') }}) as bigint)
            as local_send_hour,
        cast({{ day_of_week(dbt.dateadd('hour', 'users.tz_offset_hours', 'sends.sent_at')) }} as bigint)
            as day_of_week,
        cast({{ dbt.datediff('users.signed_up_at', 'sends.ds', 'day') }} as bigint) as user_tenure_days,
        cast(coalesce(history.user_sends_7d, 0) as bigint) as user_sends_7d,
        cast(coalesce(history.user_opens_7d, 0) as bigint) as user_opens_7d,
        cast(coalesce(history.user_sends_28d, 0) as bigint) as user_sends_28d,
        cast(coalesce(history.user_opens_28d, 0) as bigint) as user_opens_28d,
        cast(coalesce(history.channel_sends_7d, 0) as bigint) as channel_sends_7d,
        cast({{ smoothed_rate('history.user_opens_28d', 'history.user_sends_28d') }} as double)
            as user_open_rate_28d,
        cast({{ smoothed_rate('history.channel_opens_28d', 'history.channel_sends_28d') }} as double)
            as channel_open_rate_28d,
        cast({{ smoothed_rate('history.topic_opens_28d', 'history.topic_sends_28d') }} as double)
            as topic_open_rate_28d,
        cast(least(
            coalesce({{ dbt.datediff('history.last_open_date', 'sends.ds', 'day') }}, {{ var('days_since_last_open_cap') }}),
            {{ var('days_since_last_open_cap') }}
        ) as double) as days_since_last_open,

        cast(outcomes.is_opened_24h as bigint) as opened_24h,
        cast(outcomes.is_clicked_24h as bigint) as clicked_24h
    from sends
    inner join users on sends.user_id = users.user_id
    inner join outcomes on sends.notification_id = outcomes.notification_id
    left join history on sends.notification_id = history.notification_id
)

select * from examples
