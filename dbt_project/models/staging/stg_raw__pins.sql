with

source as (
    select * from {{ source('raw', 'pins') }}
),

renamed as (
    select
        pin_id,
        creator_id,
        topic,
        cast(created_ts as timestamp) as created_at,
        cast(ds as date) as ds
    from source
)

select * from renamed
