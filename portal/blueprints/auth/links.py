from flask import current_app

from portal.accounts.service import SetPasswordLinks


def set_password_links() -> SetPasswordLinks:
    """Reset and invitation links signed with this app's secret, pointing at its public address."""
    config = current_app.config
    return SetPasswordLinks(
        config["SECRET_KEY"], config["ACQUIT_BASE_URL"],
        reset_max_age=config["ACQUIT_PASSWORD_RESET_MAX_AGE"],
        invitation_max_age=config["ACQUIT_INVITATION_MAX_AGE"],
    )
