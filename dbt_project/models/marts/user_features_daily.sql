-- As-of snapshot of every user's features for day ds, computed only from data up to the
-- end of ds - 1: the features a notification sent on ds (or planned for ds) may use.
-- Windows of 1, 7 and 28 days end the day before ds; a user without activity in a window
-- counts zero there. A daily run landing day D builds ds = D and ds = D + 1 (tomorrow's
-- snapshot, used by the scoring candidates).
{%- set channels = domain_var('channels') %}
{%- set cap = domain_var('days_since_cap') %}
{%- set window_days = domain_var('feature_window_days') %}
with

users as (
    select * from {{ ref('stg_raw__users') }}
),

as_of_days as (
    {{ date_spine(build_start(), build_end(lead_days=1)) }}
),

activity as (
    select * from {{ ref('int_user_activity_daily') }}
    where ds between {{ add_days(build_start(), -window_days) }} and {{ build_end() }}
),

unsubscribes as (
    select * from {{ ref('int_user_channel_unsubscribes') }}
),

-- the users of the notification holdout's holdout group (they get no notification)
held_out as (
    select user_id, assigned_at
    from {{ ref('stg_raw__experiment_assignments') }}
    where
        experiment = '{{ domain_var('holdout_experiment') }}'
        and group_name = '{{ domain_var('holdout_group') }}'
),

-- each day's activity counts for the as-of days in the 28 days after it; days_back 1 is
-- the day before the as-of day (the point-in-time cut-off)
activity_by_as_of_day as (
    select
        activity.*,
        as_of_days.ds as as_of_ds,
        {{ days_between('activity.ds', 'as_of_days.ds') }} as days_back
    from activity
    inner join as_of_days on {{ in_days_before('activity.ds', 'as_of_days.ds', window_days) }}
),

windowed as (
    select
        user_id,
        as_of_ds as ds,
        sum(case when days_back <= 1 then organic_event_count else 0 end) as organic_events_1d,
        sum(case when days_back <= 7 then organic_event_count else 0 end) as organic_events_7d,
        sum(organic_event_count) as organic_events_28d,
        count(case when organic_event_count > 0 then 1 end) as active_days_28d,
        sum(organic_hour_cos_sum) as organic_hour_cos_28d,
        sum(organic_hour_sin_sum) as organic_hour_sin_28d,
        min(case when organic_event_count > 0 then days_back end) as days_since_last_active,
        {%- for channel in channels %}
        sum(case when days_back <= 1 then {{ channel }}_sends else 0 end) as {{ channel }}_sends_1d,
        sum(case when days_back <= 7 then {{ channel }}_sends else 0 end) as {{ channel }}_sends_7d,
        sum({{ channel }}_sends) as {{ channel }}_sends_28d,
        sum({{ channel }}_opens) as {{ channel }}_opens_28d,
        {%- endfor %}
        sum(case when days_back <= 1 then notification_sends else 0 end) as notification_sends_1d,
        sum(case when days_back <= 7 then notification_sends else 0 end) as notification_sends_7d,
        sum(notification_sends) as notification_sends_28d,
        sum(case when days_back <= 7 then notification_opens else 0 end) as notification_opens_7d,
        sum(notification_opens) as notification_opens_28d,
        min(case when notification_opens > 0 then days_back end) as days_since_last_open
    from activity_by_as_of_day
    group by user_id, as_of_ds
),

features as (
    select
        users.user_id,
        as_of_days.ds,
        users.country,
        users.platform,
        users.age_bucket,
        users.tz_offset_hours,
        cast({{ days_between('users.signed_up_at', 'as_of_days.ds') }} as bigint) as tenure_days,
        coalesce(users.is_push_opted_in, false) as is_push_opted_in,
        coalesce(users.is_email_opted_in, false) as is_email_opted_in,
        held_out.user_id is not null as is_in_notification_holdout,
        {%- for channel in channels %}
        coalesce(unsubscribed_{{ channel }}.first_unsubscribed_date < as_of_days.ds, false)
            as is_{{ channel }}_unsubscribed,
        {%- endfor %}
        cast(coalesce(windowed.organic_events_1d, 0) as bigint) as organic_events_1d,
        cast(coalesce(windowed.organic_events_7d, 0) as bigint) as organic_events_7d,
        cast(coalesce(windowed.organic_events_28d, 0) as bigint) as organic_events_28d,
        cast(coalesce(windowed.active_days_28d, 0) as bigint) as active_days_28d,
        -- the mean of the 28 days' organic events on the hour circle (0 without events)
        {%- for part in ['cos', 'sin'] %}
        cast(case when windowed.organic_events_28d > 0
            then windowed.organic_hour_{{ part }}_28d / windowed.organic_events_28d else 0 end
            as {{ double_type() }}) as active_hour_{{ part }}_28d,
        {%- endfor %}
        cast(coalesce(windowed.days_since_last_active, {{ cap }}) as bigint) as days_since_last_active,
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
        cast(coalesce(windowed.days_since_last_open, {{ cap }}) as bigint) as days_since_last_open
    -- users exist from their signup day on (a user signed up on ds has no history yet)
    from users
    inner join as_of_days on cast(users.signed_up_at as date) <= as_of_days.ds
    left join windowed on users.user_id = windowed.user_id and as_of_days.ds = windowed.ds
    -- assigned before the as-of day (point in time, like every feature)
    left join held_out
        on users.user_id = held_out.user_id and cast(held_out.assigned_at as date) < as_of_days.ds
    {%- for channel in channels %}
    left join unsubscribes as unsubscribed_{{ channel }}
        on users.user_id = unsubscribed_{{ channel }}.user_id
        and unsubscribed_{{ channel }}.channel = '{{ channel }}'
    {%- endfor %}
)

select * from features
