# Local runtime discovery (ai_model/discovery.py) — issue 12.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ai_model', '0007_provider_api_key_encrypted'),
    ]

    operations = [
        migrations.AddField(
            model_name='aimodel',
            name='available',
            field=models.BooleanField(default=True, help_text='Listed by its provider at the last discovery of local runtimes.'),
        ),
        migrations.AddField(
            model_name='aimodel',
            name='discovered_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='aimodel',
            name='last_seen_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='provider',
            name='discovered_as',
            field=models.CharField(blank=True, editable=False, help_text='The local runtime this provider was registered for (`kind url`, LOCAL_RUNTIMES); empty: added by hand.', max_length=600),
        ),
        migrations.AddConstraint(
            model_name='provider',
            constraint=models.UniqueConstraint(condition=models.Q(('discovered_as', ''), _negated=True), fields=('discovered_as',), name='unique_discovered_runtime'),
        ),
    ]
