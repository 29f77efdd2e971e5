from django.urls import path

from films import views

urlpatterns = [
    path("films/", views.start),
    path("films/new/", views.new_run_page),
    path("films/<str:run_id>/", views.run_page),
]
