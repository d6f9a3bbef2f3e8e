from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ai_model', '0009_aimodel_reasoning'),
    ]

    operations = [
        migrations.AddField(
            model_name='aimodel',
            name='supports_vision',
            field=models.BooleanField(default=False, help_text='Reads images: attached images are sent to it (README "Attachments"). Without it, a message with an image goes to the first vision model of the fallback list, or is refused.'),
        ),
    ]
