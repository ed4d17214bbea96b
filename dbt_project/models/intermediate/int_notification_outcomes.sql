-- One row per notification sent: its featured pin and topic (the item at position 1),
-- and its first open and click inside the attribution window. Opens and clicks after
-- the window never count, so a send's outcome is final once the day after it landed:
-- a daily run rebuilds yesterday's and today's sends.
with

notifications as (
    select * from {{ ref('stg_raw__notifications') }}
    where {{ in_build_window('ds', lookback_days=1) }}
),

items as (
    select * from {{ ref('int_notification_items') }}
    where {{ in_build_window('ds', lookback_days=1) }}
),

item_summary as (
    select
        notification_id,
        count(*) as item_count,
        max(case when item_position = 1 then pin_id end) as featured_pin_id,
        max(case when item_position = 1 then pin_topic end) as featured_pin_topic,
        min(clicked_at) as first_clicked_at,
        min(case when clicked_at is not null then item_position end) as first_clicked_position,
        sum(case when clicked_at is not null then 1 else 0 end) as clicked_item_count
    from items
    group by notification_id
),

-- events up to a day after the newest send: a re-run of a past day sees its sends' late opens
events as (
    select * from {{ ref('stg_raw__notification_events') }}
    where {{ in_build_window('ds', lookback_days=1, lead_days=1) }}
),

first_opens as (
    select
        events.notification_id,
        min(events.event_at) as first_opened_at
    from events
    inner join notifications on events.notification_id = notifications.notification_id
    where
        events.event_type = 'open'
        and events.event_at >= notifications.sent_at
        and events.event_at
            <= {{ dbt.dateadd('hour', domain_var('attribution_window_hours'), 'notifications.sent_at') }}
    group by events.notification_id
),

outcomes as (
    select
        notifications.notification_id,
        notifications.user_id,
        notifications.ds,
        notifications.channel,
        notifications.notification_type,
        notifications.sent_at,
        notifications.sent_local_at,
        notifications.policy_name,
        notifications.propensity,
        coalesce(item_summary.item_count, 0) as item_count,
        item_summary.featured_pin_id,
        item_summary.featured_pin_topic,
        first_opens.first_opened_at,
        item_summary.first_clicked_at,
        item_summary.first_clicked_position,
        coalesce(item_summary.clicked_item_count, 0) as clicked_item_count,
        first_opens.first_opened_at is not null as is_opened_24h,
        item_summary.first_clicked_at is not null as is_clicked_24h
    from notifications
    left join item_summary on notifications.notification_id = item_summary.notification_id
    left join first_opens on notifications.notification_id = first_opens.notification_id
)

select * from outcomes
