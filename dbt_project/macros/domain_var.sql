{#-
  A domain fact of notiflow (notiflow/domain.py: channels, feature_window_days,
  days_since_cap, attribution_window_hours). dbt_project.yml does not repeat them:
  notiflow passes them as --vars on every dbt invocation (notiflow.dbt.project_vars), so a
  dbt run without them fails here, naming the var (plain var() would return none while
  parsing and fail later on something else).
-#}
{% macro domain_var(name) -%}
    {%- set value = var(name, none) -%}
    {%- if value is none -%}
        {{ exceptions.raise_compiler_error(
            "var '" ~ name ~ "' is not set: it is a domain fact of notiflow/domain.py, which"
            ~ " notiflow passes as --vars on every dbt invocation; run dbt through notiflow"
            ~ " (`notiflow dbt ...`, notiflow.dbt.run_dbt) or pass notiflow.dbt.project_vars()"
        ) }}
    {%- endif -%}
    {{- return(value) -}}
{%- endmacro %}
