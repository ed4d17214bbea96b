-- Per user and UTC day: organic activity (with the sums of its local hours on the 24-hour
-- circle: their mean direction is when the user is active, their length how regularly),
-- and notifications received, opened (inside the attribution window, dated by when the
-- open happened) and unsubscribed from, per channel.
-- A day's row is final once that day landed, so a daily run builds only the landed day.
{%- set channels = domain_var('channels') %}
with

organic as (
    select
        user_id,
        ds,
        count(*) as organic_event_count,
        sum(case when event_type = 'impression' then 1 else 0 end) as impression_count,
        sum(case when event_type = 'closeup' then 1 else 0 end) as closeup_count,
        sum(case when event_type = 'click' then 1 else 0 end) as click_count,
        sum(case when event_type = 'save' then 1 else 0 end) as save_count,
        sum(cos({{ local_hour_angle('extract(hour from event_local_at)') }})) as organic_hour_cos_sum,
        sum(sin({{ local_hour_angle('extract(hour from event_local_at)') }})) as organic_hour_sin_sum
    from {{ ref('stg_raw__engagement_events') }}
    where {{ in_build_window('ds') }}
    group by user_id, ds
),

outcomes as (
    select * from {{ ref('int_notification_outcomes') }}
),

sends as (
    select
        user_id,
        ds,
        {%- for channel in channels %}
        sum(case when channel = '{{ channel }}' then 1 else 0 end) as {{ channel }}_sends{{ "," if not loop.last }}
        {%- endfor %}
    from outcomes
    where {{ in_build_window('ds') }}
    group by user_id, ds
),

opens as (
    select
        user_id,
        cast(first_opened_at as date) as ds,
        {%- for channel in channels %}
        sum(case when channel = '{{ channel }}' then 1 else 0 end) as {{ channel }}_opens{{ "," if not loop.last }}
        {%- endfor %}
    from outcomes
    where
        first_opened_at is not null
        and {{ in_build_window('cast(first_opened_at as date)') }}
    group by user_id, cast(first_opened_at as date)
),

-- an unsubscribe may come days after its notification: look the send up in the outcomes
-- (every send of every day), dating the unsubscribe by its event
unsubscribes as (
    select
        outcomes.user_id,
        events.ds,
        {%- for channel in channels %}
        sum(case when outcomes.channel = '{{ channel }}' then 1 else 0 end)
            as {{ channel }}_unsubscribes{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref('stg_raw__notification_events') }} as events
    inner join outcomes on events.notification_id = outcomes.notification_id
    where events.event_type = 'unsubscribe' and {{ in_build_window('events.ds') }}
    group by outcomes.user_id, events.ds
),

user_days as (
    select user_id, ds from organic
    union distinct
    select user_id, ds from sends
    union distinct
    select user_id, ds from opens
    union distinct
    select user_id, ds from unsubscribes
),

daily as (
    select
        user_days.user_id,
        user_days.ds,
        coalesce(organic.organic_event_count, 0) as organic_event_count,
        coalesce(organic.impression_count, 0) as impression_count,
        coalesce(organic.closeup_count, 0) as closeup_count,
        coalesce(organic.click_count, 0) as click_count,
        coalesce(organic.save_count, 0) as save_count,
        cast(coalesce(organic.organic_hour_cos_sum, 0) as {{ double_type() }}) as organic_hour_cos_sum,
        cast(coalesce(organic.organic_hour_sin_sum, 0) as {{ double_type() }}) as organic_hour_sin_sum,
        {%- for channel in channels %}
        coalesce(sends.{{ channel }}_sends, 0) as {{ channel }}_sends,
        coalesce(opens.{{ channel }}_opens, 0) as {{ channel }}_opens,
        coalesce(unsubscribes.{{ channel }}_unsubscribes, 0) as {{ channel }}_unsubscribes,
        {%- endfor %}
        {% for channel in channels %}coalesce(sends.{{ channel }}_sends, 0){{ " + " if not loop.last }}{% endfor %}
            as notification_sends,
        {% for channel in channels %}coalesce(opens.{{ channel }}_opens, 0){{ " + " if not loop.last }}{% endfor %}
            as notification_opens
    from user_days
    left join organic on user_days.user_id = organic.user_id and user_days.ds = organic.ds
    left join sends on user_days.user_id = sends.user_id and user_days.ds = sends.ds
    left join opens on user_days.user_id = opens.user_id and user_days.ds = opens.ds
    left join unsubscribes
        on user_days.user_id = unsubscribes.user_id and user_days.ds = unsubscribes.ds
)

select * from daily
