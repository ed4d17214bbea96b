-- Per user, pin and UTC day: how often the pin was sent to the user in a notification and
-- how often the user saved it. Only pairs with either; the scoring candidates exclude
-- these pins for a while.
with

sent as (
    select user_id, pin_id, ds, count(*) as notification_item_count
    from {{ ref('int_notification_items') }}
    where {{ in_build_window('ds') }}
    group by user_id, pin_id, ds
),

saved as (
    select user_id, pin_id, ds, count(*) as save_count
    from {{ ref('stg_raw__engagement_events') }}
    where event_type = 'save' and {{ in_build_window('ds') }}
    group by user_id, pin_id, ds
),

daily as (
    select
        coalesce(sent.user_id, saved.user_id) as user_id,
        coalesce(sent.pin_id, saved.pin_id) as pin_id,
        coalesce(sent.ds, saved.ds) as ds,
        coalesce(sent.notification_item_count, 0) as notification_item_count,
        coalesce(saved.save_count, 0) as save_count
    from sent
    full outer join saved
        on sent.user_id = saved.user_id and sent.pin_id = saved.pin_id and sent.ds = saved.ds
)

select * from daily
