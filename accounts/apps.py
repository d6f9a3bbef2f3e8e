from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
    default = True  # the accounts app's config (this module holds two)


class AdminConfig(admin_apps.AdminConfig):
    """`django.contrib.admin` with the throttled login (accounts/admin_site.py) as its default site."""

    default = False
    default_site = "accounts.admin_site.AdminSite"
