from django.urls import path

from orders import views

urlpatterns = [
    path("orders/", views.create_order),
    path("tasks/<str:task_id>/", views.task_status),
    path("tasks/<str:task_id>/progress/", views.task_progress_page),
]
