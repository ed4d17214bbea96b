-- Per pin and UTC day: organic activity on the pin, and notification items featuring it
-- (sent that day) and clicks on them (inside the attribution window, dated by the click).
with

organic as (
    select
        pin_id,
        ds,
        sum(case when event_type = 'impression' then 1 else 0 end) as impression_count,
        sum(case when event_type = 'closeup' then 1 else 0 end) as closeup_count,
        sum(case when event_type = 'click' then 1 else 0 end) as click_count,
        sum(case when event_type = 'save' then 1 else 0 end) as save_count
    from {{ ref('stg_raw__engagement_events') }}
    where {{ in_build_window('ds') }}
    group by pin_id, ds
),

items as (
    select * from {{ ref('int_notification_items') }}
),

notification_sends as (
    select pin_id, ds, count(*) as notification_send_count
    from items
    where {{ in_build_window('ds') }}
    group by pin_id, ds
),

notification_clicks as (
    select pin_id, cast(clicked_at as date) as ds, count(*) as notification_click_count
    from items
    where clicked_at is not null and {{ in_build_window('cast(clicked_at as date)') }}
    group by pin_id, cast(clicked_at as date)
),

pin_days as (
    select pin_id, ds from organic
    union distinct
    select pin_id, ds from notification_sends
    union distinct
    select pin_id, ds from notification_clicks
),

daily as (
    select
        pin_days.pin_id,
        pin_days.ds,
        coalesce(organic.impression_count, 0) as impression_count,
        coalesce(organic.closeup_count, 0) as closeup_count,
        coalesce(organic.click_count, 0) as click_count,
        coalesce(organic.save_count, 0) as save_count,
        coalesce(notification_sends.notification_send_count, 0) as notification_send_count,
        coalesce(notification_clicks.notification_click_count, 0) as notification_click_count
    from pin_days
    left join organic on pin_days.pin_id = organic.pin_id and pin_days.ds = organic.ds
    left join notification_sends
        on pin_days.pin_id = notification_sends.pin_id and pin_days.ds = notification_sends.ds
    left join notification_clicks
        on pin_days.pin_id = notification_clicks.pin_id and pin_days.ds = notification_clicks.ds
)

select * from daily
