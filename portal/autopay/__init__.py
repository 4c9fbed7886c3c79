"""Autopay: a company's invoices charged to a saved card as they fall due, with nobody at the page.

`enrolment` holds what the customer agreed to (and how to stop it); `run` is the job that
charges what is due, safe to run anywhere and any number of times; `notices` the e-mails
that keep the customer told before and after each charge.
"""
