"""Custom TFX components shared by notiflow's pipelines."""
