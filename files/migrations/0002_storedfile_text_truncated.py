from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('files', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='storedfile',
            name='text_truncated',
            field=models.BooleanField(default=False),
        ),
    ]
