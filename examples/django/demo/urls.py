from django.urls import path

from taskwire.contrib.django import views as taskwire_views

from . import views

urlpatterns = [
    path("", views.index),
    path("jobs", views.start_job),                   # POST: publish a job
    path("jobs/<str:job_id>", views.job_status),     # GET: its progress (JSON)
    path("tasks/<str:task_id>", taskwire_views.task_status),  # GET: any task id (JSON)
]
