import pytest

from portal.blueprints.disputes import dispute_context as app_dispute_context


@pytest.fixture
def dispute_context(app):
    """The dispute services' settings, read from the test app's config as a request would."""
    with app.app_context():
        return app_dispute_context()
