-- As-of snapshot of every user's features for day ds, computed only from data up to the
-- end of ds - 1: the features a notification sent on ds (or planned for ds) may use.
-- Windows of 1, 7 and 28 days run over a dense user x day grid, so a day without
-- activity counts as zero. A daily run landing day D builds ds = D and ds = D + 1
-- (tomorrow's snapshot, used by the scoring candidates).
{%- set channels = ['push', 'email', 'in_app'] %}
{%- set cap = var('days_since_cap') %}
with

users as (
    select * from {{ ref('stg_raw__users') }}
),

grid_days as (
    {{ date_spine(add_days(build_start(), -28), build_end(lead_days=1)) }}
),

activity as (
    select * from {{ ref('int_user_activity_daily') }}
    where ds between {{ add_days(build_start(), -28) }} and {{ build_end() }}
),

unsubscribes as (
    select * from {{ ref('int_user_channel_unsubscribes') }}
),

grid as (
    select
        users.user_id,
        grid_days.ds,
        coalesce(activity.organic_event_count, 0) as organic_event_count,
        case when activity.organic_event_count > 0 then grid_days.ds end as active_date,
        {%- for channel in channels %}
        coalesce(activity.{{ channel }}_sends, 0) as {{ channel }}_sends,
        coalesce(activity.{{ channel }}_opens, 0) as {{ channel }}_opens,
        {%- endfor %}
        coalesce(activity.notification_sends, 0) as notification_sends,
        coalesce(activity.notification_opens, 0) as notification_opens,
        case when activity.notification_opens > 0 then grid_days.ds end as open_date
    from users
    cross join grid_days
    left join activity on users.user_id = activity.user_id and grid_days.ds = activity.ds
),

-- every window ends the day before ds (1 preceding): the point-in-time cut-off
windowed as (
    select
        user_id,
        ds,
        sum(organic_event_count) over last_1d as organic_events_1d,
        sum(organic_event_count) over last_7d as organic_events_7d,
        sum(organic_event_count) over last_28d as organic_events_28d,
        count(active_date) over last_28d as active_days_28d,
        max(active_date) over last_28d as last_active_date,
        {%- for channel in channels %}
        sum({{ channel }}_sends) over last_1d as {{ channel }}_sends_1d,
        sum({{ channel }}_sends) over last_7d as {{ channel }}_sends_7d,
        sum({{ channel }}_sends) over last_28d as {{ channel }}_sends_28d,
        sum({{ channel }}_opens) over last_28d as {{ channel }}_opens_28d,
        {%- endfor %}
        sum(notification_sends) over last_1d as notification_sends_1d,
        sum(notification_sends) over last_7d as notification_sends_7d,
        sum(notification_sends) over last_28d as notification_sends_28d,
        sum(notification_opens) over last_7d as notification_opens_7d,
        sum(notification_opens) over last_28d as notification_opens_28d,
        max(open_date) over last_28d as last_open_date
    from grid
    window
        last_1d as (partition by user_id order by ds rows between 1 preceding and 1 preceding),
        last_7d as (partition by user_id order by ds rows between 7 preceding and 1 preceding),
        last_28d as (partition by user_id order by ds rows between 28 preceding and 1 preceding)
),

features as (
    select
        windowed.user_id,
        windowed.ds,
        users.country,
        users.platform,
        users.age_bucket,
        users.tz_offset_hours,
        cast({{ days_between('users.signed_up_at', 'windowed.ds') }} as bigint) as tenure_days,
        coalesce(users.is_push_opted_in, false) as is_push_opted_in,
        coalesce(users.is_email_opted_in, false) as is_email_opted_in,
        {%- for channel in channels %}
        coalesce(unsubscribed_{{ channel }}.first_unsubscribed_date < windowed.ds, false)
            as is_{{ channel }}_unsubscribed,
        {%- endfor %}
        cast(coalesce(windowed.organic_events_1d, 0) as bigint) as organic_events_1d,
        cast(coalesce(windowed.organic_events_7d, 0) as bigint) as organic_events_7d,
        cast(coalesce(windowed.organic_events_28d, 0) as bigint) as organic_events_28d,
        cast(windowed.active_days_28d as bigint) as active_days_28d,
        cast(coalesce(
            {{ days_between('windowed.last_active_date', 'windowed.ds') }}, {{ cap }}
        ) as bigint) as days_since_last_active,
        {%- for channel in channels %}
        cast(coalesce(windowed.{{ channel }}_sends_1d, 0) as bigint) as {{ channel }}_sends_1d,
        cast(coalesce(windowed.{{ channel }}_sends_7d, 0) as bigint) as {{ channel }}_sends_7d,
        cast(coalesce(windowed.{{ channel }}_sends_28d, 0) as bigint) as {{ channel }}_sends_28d,
        cast(coalesce(windowed.{{ channel }}_opens_28d, 0) as bigint) as {{ channel }}_opens_28d,
        cast({{ smoothed_rate('windowed.' ~ channel ~ '_opens_28d', 'windowed.' ~ channel ~ '_sends_28d') }}
            as {{ double_type() }}) as {{ channel }}_open_rate_28d,
        {%- endfor %}
        cast(coalesce(windowed.notification_sends_1d, 0) as bigint) as notification_sends_1d,
        cast(coalesce(windowed.notification_sends_7d, 0) as bigint) as notification_sends_7d,
        cast(coalesce(windowed.notification_sends_28d, 0) as bigint) as notification_sends_28d,
        cast(coalesce(windowed.notification_opens_7d, 0) as bigint) as notification_opens_7d,
        cast(coalesce(windowed.notification_opens_28d, 0) as bigint) as notification_opens_28d,
        cast({{ smoothed_rate('windowed.notification_opens_28d', 'windowed.notification_sends_28d') }}
            as {{ double_type() }}) as open_rate_28d,
        cast(coalesce(
            {{ days_between('windowed.last_open_date', 'windowed.ds') }}, {{ cap }}
        ) as bigint) as days_since_last_open
    from windowed
    inner join users on windowed.user_id = users.user_id
    {%- for channel in channels %}
    left join unsubscribes as unsubscribed_{{ channel }}
        on windowed.user_id = unsubscribed_{{ channel }}.user_id
        and unsubscribed_{{ channel }}.channel = '{{ channel }}'
    {%- endfor %}
    where
        {{ in_build_window('windowed.ds', lead_days=1) }}
        -- users exist from their signup day on (a user signed up on ds has no history yet)
        and cast(users.signed_up_at as date) <= windowed.ds
)

select * from features
