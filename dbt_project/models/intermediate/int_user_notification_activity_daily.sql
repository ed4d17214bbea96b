-- Per user, day, channel and topic: notifications received and opens made that day.
-- Opens are dated by when they happened, not by the send, so a feature cut off at
-- the end of day D-1 never sees an open that happened on day D.
with

notifications as (
    select * from {{ ref('stg_raw__notifications') }}
),

items as (
    select * from {{ ref('stg_raw__notification_items') }}
),

pins as (
    select * from {{ ref('stg_raw__pins') }}
),

-- a notification's topic is the topic of its top item (position 1)
notification_topics as (
    select
        items.notification_id,
        pins.topic
    from items
    inner join pins on items.pin_id = pins.pin_id
    where items.item_position = 1
),

outcomes as (
    select * from {{ ref('int_notification_outcomes') }}
),

sends as (
    select
        notifications.user_id,
        cast(notifications.sent_at as date) as activity_date,
        notifications.channel,
        notification_topics.topic,
        count(*) as sends_count,
        0 as opens_count
    from notifications
    left join notification_topics
        on notifications.notification_id = notification_topics.notification_id
    group by 1, 2, 3, 4
),

opens as (
    select
        notifications.user_id,
        cast(outcomes.first_opened_at as date) as activity_date,
        notifications.channel,
        notification_topics.topic,
        0 as sends_count,
        count(*) as opens_count
    from outcomes
    inner join notifications on outcomes.notification_id = notifications.notification_id
    left join notification_topics
        on notifications.notification_id = notification_topics.notification_id
    where outcomes.first_opened_at is not null
    group by 1, 2, 3, 4
),

combined as (
    select * from sends
    union all
    select * from opens
),

daily as (
    select
        user_id,
        activity_date,
        channel,
        topic,
        sum(sends_count) as sends_count,
        sum(opens_count) as opens_count
    from combined
    group by 1, 2, 3, 4
)

select * from daily
