-- Per user, topic and UTC day: organic engagement with the topic's pins (weighted by
-- event type, var affinity_event_weights, and counted: closeups, clicks and saves) and
-- notifications featuring the topic, received and opened (dated by the open).
{%- set weights = var('affinity_event_weights') %}
with

organic as (
    select
        events.user_id,
        pins.topic,
        events.ds,
        sum(
            case events.event_type
                {%- for event_type, weight in weights.items() %}
                when '{{ event_type }}' then {{ weight }}
                {%- endfor %}
                else 0
            end
        ) as engagement_weight,
        sum(case when events.event_type in ('closeup', 'click', 'save') then 1 else 0 end)
            as engagement_count
    from {{ ref('stg_raw__engagement_events') }} as events
    inner join {{ ref('stg_raw__pins') }} as pins on events.pin_id = pins.pin_id
    where {{ in_build_window('events.ds') }}
    group by events.user_id, pins.topic, events.ds
),

outcomes as (
    select * from {{ ref('int_notification_outcomes') }}
    where featured_pin_topic is not null
),

sends as (
    select user_id, featured_pin_topic as topic, ds, count(*) as notification_sends
    from outcomes
    where {{ in_build_window('ds') }}
    group by user_id, featured_pin_topic, ds
),

opens as (
    select
        user_id,
        featured_pin_topic as topic,
        cast(first_opened_at as date) as ds,
        count(*) as notification_opens
    from outcomes
    where first_opened_at is not null and {{ in_build_window('cast(first_opened_at as date)') }}
    group by user_id, featured_pin_topic, cast(first_opened_at as date)
),

keys as (
    select user_id, topic, ds from organic
    union distinct
    select user_id, topic, ds from sends
    union distinct
    select user_id, topic, ds from opens
),

daily as (
    select
        keys.user_id,
        keys.topic,
        keys.ds,
        cast(coalesce(organic.engagement_weight, 0) as {{ double_type() }}) as engagement_weight,
        cast(coalesce(organic.engagement_count, 0) as bigint) as engagement_count,
        coalesce(sends.notification_sends, 0) as notification_sends,
        coalesce(opens.notification_opens, 0) as notification_opens
    from keys
    left join organic
        on keys.user_id = organic.user_id and keys.topic = organic.topic and keys.ds = organic.ds
    left join sends
        on keys.user_id = sends.user_id and keys.topic = sends.topic and keys.ds = sends.ds
    left join opens
        on keys.user_id = opens.user_id and keys.topic = opens.topic and keys.ds = opens.ds
)

select * from daily
