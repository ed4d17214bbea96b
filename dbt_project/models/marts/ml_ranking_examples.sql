-- Training examples for the ranking model: one row per item of a digest (a notification
-- carrying a list of pins), keyed by the list (notification_id) and the item's position,
-- with user, pin, user-topic and user-pin features as of the end of ds - 1 and the label
-- clicked_24h. item_position is the logged position: the ranker uses it in training
-- only, to absorb position bias (candidates scored for a new list have none yet).
-- The features are the ranking features of macros/features.sql, which also computes
-- them for tomorrow's candidates (ml_scoring_candidates).
-- Rebuilt, like the engagement examples, for yesterday's and today's sends.
with

items as (
    select * from {{ ref('int_notification_items') }}
    where notification_type = 'digest' and {{ in_build_window('ds', lookback_days=1) }}
),

list_sizes as (
    select notification_id, count(*) as list_size
    from items
    group by notification_id
),

newest_landed_day as (
    select {{ landed_day_bound('max') }} as ds
),

examples as (
    select
        items.notification_id as list_id,
        items.notification_id,
        cast(items.item_position as bigint) as item_position,
        items.pin_id,
        items.user_id,
        items.ds,
        items.channel,
        cast(list_sizes.list_size as bigint) as list_size,

        -- user, pin, the user's affinity to its topic, the user and the pin
        {{ ranking_feature_columns() }},

        -- label
        cast(case when items.clicked_at is not null then 1 else 0 end as bigint) as clicked_24h,
        items.ds < newest_landed_day.ds as is_label_mature
    from items
    cross join newest_landed_day
    inner join list_sizes on items.notification_id = list_sizes.notification_id
    {{ ranking_feature_joins('items', build_start(lookback_days=1), build_end()) }}
)

select * from examples
