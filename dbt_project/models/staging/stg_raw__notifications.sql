with

source as (
    select * from {{ source('raw', 'notifications') }}
),

-- the only join in staging: user-local time needs the user's UTC offset
user_offsets as (
    select user_id, cast(tz_offset_hours as integer) as tz_offset_hours
    from {{ source('raw', 'users') }}
),

deduplicated as (
    select *
    from source
    -- loggers may deliver a row twice within a day's load; keep one per key (partitioning
    -- by ds too lets a filter on ds reach the raw table instead of deduplicating all days)
    qualify row_number() over (partition by ds, notification_id order by sent_ts) = 1
),

renamed as (
    select
        deduplicated.notification_id,
        deduplicated.user_id,
        deduplicated.channel,
        deduplicated.notification_type,
        cast(deduplicated.sent_ts as timestamp) as sent_at,
        cast({{ to_local_time('deduplicated.sent_ts', 'user_offsets.tz_offset_hours') }} as timestamp)
            as sent_local_at,
        deduplicated.policy as policy_name,
        cast(deduplicated.propensity as {{ double_type() }}) as propensity,
        cast(deduplicated.ds as date) as ds
    from deduplicated
    left join user_offsets on deduplicated.user_id = user_offsets.user_id
)

select * from renamed
