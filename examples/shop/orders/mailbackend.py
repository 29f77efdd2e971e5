"""Django's file mail backend, failing the first SHOP_MAIL_FAIL_FIRST sends
(counted in SHOP_MAIL_STATE) with SMTPException, as a mail server that is
down for a moment would: the task's autoretry is what gets the mail out."""
import fcntl
import os
from smtplib import SMTPException

from django.core.mail.backends.filebased import EmailBackend


class FlakyFileBackend(EmailBackend):
    def send_messages(self, messages):
        fail_first = int(os.environ.get("SHOP_MAIL_FAIL_FIRST", "0"))
        state = os.environ.get("SHOP_MAIL_STATE")
        if fail_first and state:
            with open(state, "a+") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                f.seek(0)
                tries = len(f.read().split())
                f.write("try\n")
            if tries < fail_first:
                raise SMTPException("mail server unavailable (send %d)" % (tries + 1))
        return super().send_messages(messages)
