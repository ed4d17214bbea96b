-- Per user, topic and as-of day ds: the user's affinity to the topic from data up to the
-- end of ds - 1 (point in time), over 7 and 28 days. Affinity is the topic's share of the
-- user's decayed engagement weight (each day weighted 0.5 ^ (age / half-life), age 0 =
-- the day before ds), so it lies in [0, 1] and sums to 1 over the user's topics. Also the
-- user's organic engagements with the topic (closeups, clicks, saves; undecayed counts)
-- over 7 and 28 days, and the notifications featuring the topic that the user received
-- and opened in 28 days.
-- A daily run builds today's and tomorrow's snapshots.
{%- set window_days = domain_var('feature_window_days') %}
with

activity as (
    select * from {{ ref('int_user_topic_activity_daily') }}
    where ds between {{ add_days(build_start(), -window_days) }} and {{ build_end() }}
),

as_of_days as (
    {{ date_spine(build_start(), build_end(lead_days=1)) }}
),

-- each day's activity counts for the as-of days in the 28 days after it
windowed as (
    select
        activity.user_id,
        activity.topic,
        as_of_days.ds,
        {{ days_between('activity.ds', 'as_of_days.ds') }} - 1 as age_days,
        activity.engagement_weight,
        activity.engagement_count,
        activity.notification_sends,
        activity.notification_opens
    from activity
    inner join as_of_days on {{ in_days_before('activity.ds', 'as_of_days.ds', window_days) }}
),

decayed as (
    select
        user_id,
        topic,
        ds,
        sum(case when age_days < 7 then engagement_weight * {{ decay_weight('age_days') }} else 0 end)
            as decayed_weight_7d,
        sum(engagement_weight * {{ decay_weight('age_days') }}) as decayed_weight_28d,
        sum(case when age_days < 7 then engagement_count else 0 end) as engagements_7d,
        sum(engagement_count) as engagements_28d,
        sum(notification_sends) as notification_sends_28d,
        sum(notification_opens) as notification_opens_28d
    from windowed
    group by user_id, topic, ds
),

affinity as (
    select
        user_id,
        topic,
        ds,
        cast(coalesce(
            decayed_weight_7d / nullif(sum(decayed_weight_7d) over (partition by user_id, ds), 0),
            0
        ) as {{ double_type() }}) as affinity_7d,
        cast(coalesce(
            decayed_weight_28d / nullif(sum(decayed_weight_28d) over (partition by user_id, ds), 0),
            0
        ) as {{ double_type() }}) as affinity_28d,
        cast(engagements_7d as bigint) as engagements_7d,
        cast(engagements_28d as bigint) as engagements_28d,
        notification_sends_28d,
        notification_opens_28d
    from decayed
)

select * from affinity
