with

source as (
    select * from {{ source('raw', 'engagement_events') }}
),

renamed as (
    select
        event_id,
        user_id,
        pin_id,
        event_type,
        surface,
        cast(event_ts as timestamp) as event_at,
        cast(ds as date) as ds
    from source
    -- loggers may deliver an event twice; keep one per key
    qualify row_number() over (partition by event_id order by event_ts) = 1
)

select * from renamed
