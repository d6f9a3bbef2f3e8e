import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('files', '0001_initial'),
        ('message', '0007_message_reasoning'),
    ]

    operations = [
        migrations.AddField(
            model_name='message',
            name='attachment_chars',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.CreateModel(
            name='MessageAttachment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveSmallIntegerField(default=0)),
                ('included_chars', models.PositiveIntegerField(blank=True, null=True)),
                ('file', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='message_links', to='files.storedfile')),
                ('message', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attachment_links', to='message.message')),
            ],
            options={
                'ordering': ['position'],
                'constraints': [models.UniqueConstraint(fields=('message', 'file'), name='attachment_unique_per_message')],
            },
        ),
        migrations.AddField(
            model_name='message',
            name='attachments',
            field=models.ManyToManyField(blank=True, related_name='messages', through='message.MessageAttachment', to='files.storedfile'),
        ),
    ]
