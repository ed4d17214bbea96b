-- As-of snapshot of every pin's features for day ds, from data up to the end of ds - 1:
-- popularity (organic and in notifications), smoothed click and save rates, age and
-- creator stats, over windows of 7 and 28 days that end the day before ds. Only pins
-- created before ds appear. A daily run landing day D builds ds = D and ds = D + 1.
{%- set window_days = domain_var('feature_window_days') %}
with

pins as (
    select * from {{ ref('stg_raw__pins') }}
),

as_of_days as (
    {{ date_spine(build_start(), build_end(lead_days=1)) }}
),

activity as (
    select * from {{ ref('int_pin_activity_daily') }}
    where ds between {{ add_days(build_start(), -window_days) }} and {{ build_end() }}
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
        pin_id,
        as_of_ds as ds,
        sum(case when days_back <= 7 then impression_count else 0 end) as impressions_7d,
        sum(case when days_back <= 7 then closeup_count else 0 end) as closeups_7d,
        sum(case when days_back <= 7 then click_count else 0 end) as clicks_7d,
        sum(case when days_back <= 7 then save_count else 0 end) as saves_7d,
        sum(impression_count) as impressions_28d,
        sum(closeup_count) as closeups_28d,
        sum(click_count) as clicks_28d,
        sum(save_count) as saves_28d,
        sum(case when days_back <= 7 then notification_send_count else 0 end) as notification_sends_7d,
        sum(case when days_back <= 7 then notification_click_count else 0 end) as notification_clicks_7d
    from activity_by_as_of_day
    group by pin_id, as_of_ds
),

snapshots as (
    select
        pins.pin_id,
        as_of_days.ds,
        pins.creator_id,
        pins.topic,
        cast({{ days_between('pins.created_at', 'as_of_days.ds') }} as bigint) as pin_age_days,
        cast(coalesce(windowed.impressions_7d, 0) as bigint) as impressions_7d,
        cast(coalesce(windowed.closeups_7d, 0) as bigint) as closeups_7d,
        cast(coalesce(windowed.clicks_7d, 0) as bigint) as clicks_7d,
        cast(coalesce(windowed.saves_7d, 0) as bigint) as saves_7d,
        cast(coalesce(windowed.impressions_28d, 0) as bigint) as impressions_28d,
        cast(coalesce(windowed.clicks_28d, 0) as bigint) as clicks_28d,
        cast(coalesce(windowed.saves_28d, 0) as bigint) as saves_28d,
        cast(coalesce(windowed.notification_sends_7d, 0) as bigint) as notification_sends_7d,
        cast(coalesce(windowed.notification_clicks_7d, 0) as bigint) as notification_clicks_7d,
        cast({{ smoothed_rate('windowed.clicks_7d', 'windowed.impressions_7d',
            var('click_rate_prior'), var('click_rate_prior_strength')) }} as {{ double_type() }})
            as click_rate_7d,
        cast({{ smoothed_rate('windowed.clicks_28d', 'windowed.impressions_28d',
            var('click_rate_prior'), var('click_rate_prior_strength')) }} as {{ double_type() }})
            as click_rate_28d,
        cast({{ smoothed_rate('windowed.saves_28d', 'windowed.impressions_28d',
            var('save_rate_prior'), var('save_rate_prior_strength')) }} as {{ double_type() }})
            as save_rate_28d,
        -- engagement-weighted popularity over 28 days (closeup 1, click 2, save 3)
        cast(
            coalesce(windowed.closeups_28d, 0)
            + 2 * coalesce(windowed.clicks_28d, 0)
            + 3 * coalesce(windowed.saves_28d, 0)
            as {{ double_type() }}
        ) as popularity_28d
    -- pins exist from the day after their creation on
    from pins
    inner join as_of_days on cast(pins.created_at as date) < as_of_days.ds
    left join windowed on pins.pin_id = windowed.pin_id and as_of_days.ds = windowed.ds
),

creators as (
    select
        creator_id,
        ds,
        count(*) as creator_pin_count,
        sum(saves_28d) as creator_saves_28d
    from snapshots
    group by creator_id, ds
),

features as (
    select
        snapshots.*,
        cast(creators.creator_pin_count as bigint) as creator_pin_count,
        cast(creators.creator_saves_28d as bigint) as creator_saves_28d
    from snapshots
    left join creators
        on snapshots.creator_id = creators.creator_id and snapshots.ds = creators.ds
)

select * from features
