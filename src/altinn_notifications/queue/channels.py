"""LISTEN/NOTIFY channel names, defined once. A NOTIFY is a hint sent on commit; polling stays the truth."""

from __future__ import annotations

#: An order was registered (or rescheduled) and may be due: wakes order processing.
ORDERS_DUE = "orders_due"
#: Email notifications became `New`: wakes the email and composed-email dispatchers.
EMAIL_NEW = "email_new"
#: SMS notifications became `New`: wakes the SMS dispatcher.
SMS_NEW = "sms_new"

#: A delivery report was scheduled (the simulated vendor's, due shortly): wakes the report retriers.
REPORTS_DUE = "reports_due"

ALL_CHANNELS = (ORDERS_DUE, EMAIL_NEW, SMS_NEW, REPORTS_DUE)
