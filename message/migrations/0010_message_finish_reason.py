from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('message', '0009_message_assistant_plan'),
    ]

    operations = [
        migrations.AddField(
            model_name='message',
            name='finish_reason',
            field=models.CharField(blank=True, max_length=16),
        ),
    ]
