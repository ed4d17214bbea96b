-- One row per user and channel the user unsubscribed from, with the first day it happened.
-- Rebuilt whole on every run (unsubscribes are rare), since "unsubscribed as of day D"
-- looks back to the beginning of the logs.
{{ config(materialized='table', partition_by=none, unique_key=none) }}

with

unsubscribes as (
    select
        notifications.user_id,
        notifications.channel,
        min(events.ds) as first_unsubscribed_date
    from {{ ref('stg_raw__notification_events') }} as events
    inner join {{ ref('stg_raw__notifications') }} as notifications
        on events.notification_id = notifications.notification_id
    where events.event_type = 'unsubscribe'
    group by notifications.user_id, notifications.channel
)

select * from unsubscribes
