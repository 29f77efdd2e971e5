from django.urls import path

from chat import views

urlpatterns = [path("chat/<str:room>/", views.room)]
