-- One row per notification item: the pin and its topic, and its first click inside the
-- attribution window. Rebuilt, like the outcomes, for yesterday's and today's sends.
with

notifications as (
    select * from {{ ref('stg_raw__notifications') }}
    where {{ in_build_window('ds', lookback_days=1) }}
),

items as (
    select * from {{ ref('stg_raw__notification_items') }}
    where {{ in_build_window('ds', lookback_days=1) }}
),

pins as (
    select * from {{ ref('stg_raw__pins') }}
),

-- events up to a day after the newest send: a re-run of a past day sees its sends' late opens
events as (
    select * from {{ ref('stg_raw__notification_events') }}
    where {{ in_build_window('ds', lookback_days=1, lead_days=1) }}
),

first_clicks as (
    select
        events.notification_id,
        events.item_position,
        min(events.event_at) as clicked_at
    from events
    inner join notifications on events.notification_id = notifications.notification_id
    where
        events.event_type = 'click'
        and events.event_at >= notifications.sent_at
        and events.event_at
            <= {{ dbt.dateadd('hour', domain_var('attribution_window_hours'), 'notifications.sent_at') }}
    group by events.notification_id, events.item_position
),

notification_items as (
    select
        items.notification_id,
        items.item_position,
        items.pin_id,
        pins.topic as pin_topic,
        notifications.user_id,
        notifications.ds,
        notifications.channel,
        notifications.notification_type,
        notifications.sent_at,
        first_clicks.clicked_at
    from items
    inner join notifications on items.notification_id = notifications.notification_id
    left join pins on items.pin_id = pins.pin_id
    left join first_clicks
        on items.notification_id = first_clicks.notification_id
        and items.item_position = first_clicks.item_position
)

select * from notification_items
