-- As-of snapshot of every pin's features for day ds, from data up to the end of ds - 1:
-- popularity (organic and in notifications), age and creator stats. Only pins created
-- before ds appear. A daily run landing day D builds ds = D and ds = D + 1.
with

pins as (
    select * from {{ ref('stg_raw__pins') }}
),

grid_days as (
    {{ date_spine(add_days(build_start(), -28), build_end(lead_days=1)) }}
),

activity as (
    select * from {{ ref('int_pin_activity_daily') }}
    where ds between {{ add_days(build_start(), -28) }} and {{ build_end() }}
),

grid as (
    select
        pins.pin_id,
        grid_days.ds,
        coalesce(activity.impression_count, 0) as impression_count,
        coalesce(activity.closeup_count, 0) as closeup_count,
        coalesce(activity.click_count, 0) as click_count,
        coalesce(activity.save_count, 0) as save_count,
        coalesce(activity.notification_send_count, 0) as notification_send_count,
        coalesce(activity.notification_click_count, 0) as notification_click_count
    from pins
    inner join grid_days on cast(pins.created_at as date) <= grid_days.ds
    left join activity on pins.pin_id = activity.pin_id and grid_days.ds = activity.ds
),

-- every window ends the day before ds (1 preceding): the point-in-time cut-off
windowed as (
    select
        pin_id,
        ds,
        sum(impression_count) over last_7d as impressions_7d,
        sum(closeup_count) over last_7d as closeups_7d,
        sum(click_count) over last_7d as clicks_7d,
        sum(save_count) over last_7d as saves_7d,
        sum(closeup_count) over last_28d as closeups_28d,
        sum(click_count) over last_28d as clicks_28d,
        sum(save_count) over last_28d as saves_28d,
        sum(notification_send_count) over last_7d as notification_sends_7d,
        sum(notification_click_count) over last_7d as notification_clicks_7d
    from grid
    window
        last_7d as (partition by pin_id order by ds rows between 7 preceding and 1 preceding),
        last_28d as (partition by pin_id order by ds rows between 28 preceding and 1 preceding)
),

snapshots as (
    select
        windowed.pin_id,
        windowed.ds,
        pins.creator_id,
        pins.topic,
        cast({{ days_between('pins.created_at', 'windowed.ds') }} as bigint) as pin_age_days,
        cast(coalesce(windowed.impressions_7d, 0) as bigint) as impressions_7d,
        cast(coalesce(windowed.closeups_7d, 0) as bigint) as closeups_7d,
        cast(coalesce(windowed.clicks_7d, 0) as bigint) as clicks_7d,
        cast(coalesce(windowed.saves_7d, 0) as bigint) as saves_7d,
        cast(coalesce(windowed.saves_28d, 0) as bigint) as saves_28d,
        cast(coalesce(windowed.notification_sends_7d, 0) as bigint) as notification_sends_7d,
        cast(coalesce(windowed.notification_clicks_7d, 0) as bigint) as notification_clicks_7d,
        cast({{ smoothed_rate('windowed.clicks_7d', 'windowed.impressions_7d',
            var('click_rate_prior'), var('click_rate_prior_strength')) }} as {{ double_type() }})
            as click_rate_7d,
        -- engagement-weighted popularity over 28 days (closeup 1, click 2, save 3)
        cast(
            coalesce(windowed.closeups_28d, 0)
            + 2 * coalesce(windowed.clicks_28d, 0)
            + 3 * coalesce(windowed.saves_28d, 0)
            as {{ double_type() }}
        ) as popularity_28d
    from windowed
    inner join pins on windowed.pin_id = pins.pin_id
    where
        {{ in_build_window('windowed.ds', lead_days=1) }}
        and cast(pins.created_at as date) < windowed.ds
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
