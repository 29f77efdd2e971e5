"""Settings of the example shop. Paths come from the environment so a test
(or a second host) can place the database and the mail folder."""
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = os.environ.get("SHOP_SECRET_KEY", "example-shop-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "taskwire.contrib.django", "orders"]
MIDDLEWARE = []
ROOT_URLCONF = "shop.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ.get("SHOP_DB", os.path.join(BASE_DIR, "db.sqlite3")),
                         "OPTIONS": {"timeout": 20}}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# Mail: files in a folder (each message a file), through a backend that can
# be told to fail the first sends, as a mail server that is down would.
EMAIL_BACKEND = "orders.mailbackend.FlakyFileBackend"
EMAIL_FILE_PATH = os.environ.get("SHOP_MAIL_DIR", os.path.join(BASE_DIR, "sent-mail"))
DEFAULT_FROM_EMAIL = "shop@example.com"

# taskwire: the same names Celery takes with namespace="CELERY"
TASKWIRE_TASK_DEFAULT_QUEUE = "shop"
TASKWIRE_ENGINE = os.environ.get("TW_ENGINE")
# tw-control's HTTP side, where an order's page follows its mail task live
# (HOST:PORT, as `make up` writes it); the view tokens it signs need the
# control socket's token file (TW_SOCKET + ".token", readable by its users)
TASKWIRE_HTTP = os.environ.get("TW_METRICS")
