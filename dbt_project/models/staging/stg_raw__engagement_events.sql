with

source as (
    select * from {{ source('raw', 'engagement_events') }}
),

-- the only join in staging: user-local time needs the user's UTC offset
user_offsets as (
    select user_id, cast(tz_offset_hours as integer) as tz_offset_hours
    from {{ source('raw', 'users') }}
),

deduplicated as (
    select *
    from source
    -- loggers may deliver an event twice within a day's load; keep one per key (partitioning
    -- by ds too lets a filter on ds reach the raw table instead of deduplicating all days)
    qualify row_number() over (partition by ds, event_id order by event_ts) = 1
),

renamed as (
    select
        deduplicated.event_id,
        deduplicated.user_id,
        deduplicated.pin_id,
        deduplicated.event_type,
        deduplicated.surface,
        cast(deduplicated.event_ts as timestamp) as event_at,
        cast({{ to_local_time('deduplicated.event_ts', 'user_offsets.tz_offset_hours') }} as timestamp)
            as event_local_at,
        cast(deduplicated.ds as date) as ds
    from deduplicated
    left join user_offsets on deduplicated.user_id = user_offsets.user_id
)

select * from renamed
