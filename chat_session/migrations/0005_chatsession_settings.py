from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chat_session', '0004_chatsession_default_assistant'),
    ]

    operations = [
        migrations.AddField(
            model_name='chatsession',
            name='system_prompt',
            field=models.TextField(blank=True, max_length=8000),
        ),
        migrations.AddField(
            model_name='chatsession',
            name='temperature',
            field=models.FloatField(blank=True, null=True),
        ),
    ]
