with

source as (
    select * from {{ source('raw', 'notification_plan_drops') }}
),

renamed as (
    select
        notification_id,
        user_id,
        channel,
        reason as drop_reason,
        cast(ds as date) as ds
    from source
)

select * from renamed
