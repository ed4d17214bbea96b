-- One row per notification with its outcome inside the 24 h attribution window.
with

notifications as (
    select * from {{ ref('stg_raw__notifications') }}
),

events as (
    select * from {{ ref('stg_raw__notification_events') }}
),

first_events as (
    select
        notification_id,
        min(case when event_type = 'open' then event_at end) as first_opened_at,
        min(case when event_type = 'click' then event_at end) as first_clicked_at
    from events
    group by notification_id
),

outcomes as (
    select
        notifications.notification_id,
        notifications.user_id,
        notifications.sent_at,
        first_events.first_opened_at,
        first_events.first_clicked_at,
        coalesce(
            first_events.first_opened_at <= {{ dbt.dateadd('hour', 24, 'notifications.sent_at') }},
            false
        ) as is_opened_24h,
        coalesce(
            first_events.first_clicked_at <= {{ dbt.dateadd('hour', 24, 'notifications.sent_at') }},
            false
        ) as is_clicked_24h
    from notifications
    left join first_events
        on notifications.notification_id = first_events.notification_id
)

select * from outcomes
