with

source as (
    select * from {{ source('raw', 'experiment_assignments') }}
),

renamed as (
    select
        user_id,
        experiment,
        group_name,
        cast(assigned_ts as timestamp) as assigned_at
    from source
)

select * from renamed
