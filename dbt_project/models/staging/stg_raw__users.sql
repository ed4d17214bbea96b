with

source as (
    select * from {{ source('raw', 'users') }}
),

renamed as (
    select
        user_id,
        cast(signup_ts as timestamp) as signed_up_at,
        country,
        platform,
        age_bucket,
        cast(tz_offset_hours as integer) as tz_offset_hours,
        push_opt_in as is_push_opted_in,
        email_opt_in as is_email_opted_in
    from source
)

select * from renamed
