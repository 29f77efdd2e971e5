from django.urls import path
from taskwire.contrib.django import views as taskwire_views

from orders import views

urlpatterns = [
    path("orders/", views.create_order),
    # a task's state and result from taskwire's result store (JSON)
    path("tasks/<str:task_id>/", taskwire_views.task_status),
    path("tasks/<str:task_id>/progress/", views.task_progress_page),
]
