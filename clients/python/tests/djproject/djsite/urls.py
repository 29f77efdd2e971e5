from django.urls import path
from taskwire.contrib.django import views as taskwire_views

from notes import views

urlpatterns = [
    path("start/", views.start),
    path("tasks/<str:task_id>/", taskwire_views.task_status),
]
