with

source as (
    select * from {{ source('raw', 'notifications') }}
),

renamed as (
    select
        notification_id,
        user_id,
        channel,
        notification_type,
        cast(sent_ts as timestamp) as sent_at,
        policy as policy_name,
        cast(propensity as double) as propensity,
        cast(ds as date) as ds
    from source
    -- loggers may deliver a row twice; keep one per key
    qualify row_number() over (partition by notification_id order by sent_ts) = 1
)

select * from renamed
