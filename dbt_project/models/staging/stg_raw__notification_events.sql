with

source as (
    select * from {{ source('raw', 'notification_events') }}
),

renamed as (
    select
        event_id,
        notification_id,
        event_type,
        position as item_position,
        cast(event_ts as timestamp) as event_at,
        cast(ds as date) as ds
    from source
    -- loggers may deliver an event twice within a day's load; keep one per key (partitioning
    -- by ds too lets a filter on ds reach the raw table instead of deduplicating all days)
    qualify row_number() over (partition by ds, event_id order by event_ts) = 1
)

select * from renamed
