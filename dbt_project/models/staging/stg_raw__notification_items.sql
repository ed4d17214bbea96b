with

source as (
    select * from {{ source('raw', 'notification_items') }}
),

renamed as (
    select
        notification_id,
        cast(position as integer) as item_position,
        pin_id,
        cast(ds as date) as ds
    from source
    -- loggers may deliver a row twice within a day's load; keep one per key (partitioning
    -- by ds too lets a filter on ds reach the raw table instead of deduplicating all days)
    qualify row_number() over (partition by ds, notification_id, position order by pin_id) = 1
)

select * from renamed
