from django.db import models


class Order(models.Model):
    email = models.EmailField()
    item = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
