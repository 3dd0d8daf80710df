# Hand-written fragments of English Telegram-style scams and ordinary English group chat (the
# qunguan team's own text; names, handles, amounts and links are invented at random).

NAMES = ["Sarah", "Mike", "Jessica", "David", "Anna", "Linda", "Kevin", "Emma", "James", "Sophia", "Daniel",
         "Olivia", "Mr. Robert", "Mrs. Helen", "Dr. Chris", "Alex", "Victoria", "Grace"]
HANDLES = ["trader", "fx", "crypto", "invest", "support", "help", "admin", "coach", "mentor", "profit", "signals",
           "wallet", "recovery", "desk", "official", "vip", "team", "pro", "capital", "global"]
TLDS = ["com", "io", "net", "app", "xyz", "top", "pro", "finance", "site", "online"]
AMOUNTS = ["$200", "$300", "$500", "$1,000", "$2,500", "$5,000", "$10k", "$15,000", "$50,000", "0.5 BTC", "2 ETH",
           "1,000 USDT", "5,000 USDT", "$750", "$120"]

EN_HOOK = [
    "I made {a} this week trading with {N}", "Earn {a} daily from home", "Start investing with just $100 and earn {a} weekly",
    "Bitcoin is going up, don't miss your chance", "Join the best crypto trading platform", "Want to earn passive income?",
    "My account manager helped me earn {a} in 3 days", "Our AI trading bot made {a} for members last week",
    "Giving away {a} to the first 50 people", "Free airdrop for all active members", "Claim your free tokens now",
    "Lost money to a scam? We can recover it", "Hacked wallet? Our team recovers stolen crypto",
    "We are hiring remote workers, {a} per week", "Part-time job: like videos and get paid", "Looking for serious people to work with",
    "Hello everyone, I'm {N} from the support team", "Your account has been selected for a bonus",
    "Dear member, your wallet needs verification", "Exclusive VIP signals group now open", "Forex signals with 98% accuracy",
    "I was skeptical too but {N} changed my life", "Thanks to {N} I paid off my debts", "Still working 9 to 5?",
    "Invest {a} and get 10x back in 48 hours", "New token launching today, 100x potential", "Presale is live, only a few spots left",
    "Be your own boss and earn from your phone", "Make money online without experience", "Urgent: your withdrawal is pending",
    "Congratulations! You have won {a}", "Limited offer for group members only", "I can teach you how to trade and earn {a}",
    "Mining pool with guaranteed daily returns", "Double your crypto in 24 hours", "Hot girls in your area want to chat",
    "Cheap followers and likes for Instagram and TikTok", "Need a loan? Fast approval, no credit check",
    "Get a verified account badge today", "Buy cheap crypto below market price", "Hi dear, are you interested in investment?",
]
EN_HOOK += [
    "Hey! Are you still looking for a side income? I have something for you", "Guys check my bio for something special",
    "I found a legit site that pays you to play games", "Already withdrew {a} this month, not even joking",
    "Anyone want to make some extra cash this weekend?", "My mentor showed me a trick that changed everything",
    "Who wants to learn how I quit my job?", "If you need money fast I can help", "Not a scam, I'm just sharing what worked for me",
    "Looking for models for an online photoshoot, high pay", "Cash app flip: send $100, get $1,000 back", "I have a few spots left in my team",
    "Women over 30 are making {a} a week with this", "Honestly this app pays", "Lonely tonight? Let's chat",
    "Check the pinned link, thank me later", "New to the group, I help people grow their portfolio", "Anyone here into trading? I can show you my results",
]
EN_BODY = [
    "No experience needed.", "Guaranteed profit.", "100% legit and safe.", "Withdraw anytime.", "Limited slots!",
    "Only serious people.", "Payment is instant.", "Risk free.", "Don't miss this opportunity.", "Spots are filling fast.",
    "Testimonials in my profile.", "I will guide you step by step.", "You only need a phone.", "Minimum deposit $50.",
    "Profits paid daily.", "Thousands of happy members.", "This is not a scam.", "Proof of payments available.",
    "Works in every country.", "Offer ends tonight.", "Send a small fee to unlock.", "Your funds are safe with us.",
    "All you need is 30 minutes a day.", "Returns of 20% per week.", "Verified by thousands.",
]
EN_CTA = [
    "DM me now", "DM me for details", "Message me to start", "Contact {h}", "Inbox me", "PM me", "Write to {h} on Telegram",
    "Click here: {u}", "Register at {u}", "Join {t}", "Text me on WhatsApp {w}", "Send me a message if interested",
    "Reach out to {N} at {h}", "Drop a hi in my inbox", "Connect with my manager {h}", "Tap the link {u}", "Visit {u} now",
    "Comment 'YES' and I will DM you", "Message {h} and mention this group", "Add me on WhatsApp {w}",
]


def _h(r):
    return "@" + r.choice(HANDLES) + r.choice(["_", ""]) + r.choice(NAMES).split()[-1].lower().strip(".") + r.choice(["", str(r.randint(1, 999))])


def _u(r):
    return r.choice(["https://", "http://", "", "www."]) + r.choice(HANDLES) + r.choice(["-", ""]) + r.choice(HANDLES) + "." + r.choice(TLDS) + r.choice(["", "/join", "/register", "/claim", "?ref=" + str(r.randint(100, 99999))])


def _fill(r, s):
    return (s.replace("{a}", r.choice(AMOUNTS)).replace("{N}", r.choice(NAMES)).replace("{h}", _h(r))
            .replace("{u}", _u(r)).replace("{t}", "t.me/" + r.choice(HANDLES) + r.choice(HANDLES) + str(r.randint(1, 99)))
            .replace("{w}", "+1 " + str(r.randint(200, 999)) + " " + str(r.randint(200, 999)) + " " + str(r.randint(1000, 9999))))


HOMO = {"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "y": "у", "i": "і"}


def EN_SPAM(r):
    parts = [_fill(r, r.choice(EN_HOOK))]
    for _ in range(r.choice([0, 1, 1, 2])):
        parts.append(_fill(r, r.choice(EN_BODY)))
    if r.random() < 0.85:
        parts.append(_fill(r, r.choice(EN_CTA)))
    text = r.choice([". ", "! ", " ", "\\n", " — ", ". "]).join(p.rstrip(".!") if i < len(parts) - 1 else p for i, p in enumerate(parts))
    k = r.random()
    if k < 0.1:
        text = "".join(HOMO.get(c, c) if r.random() < 0.5 else c for c in text)
    elif k < 0.2:
        text = r.choice(["🚀", "💰", "🔥", "✅", "💎", "📈"]) + " " + text + " " + r.choice(["🚀🚀", "💰💰", "🔥", "✅", "💎", "📈📈"])
    elif k < 0.25:
        text = text.upper()
    return text


EN_HAM_A = [
    "Good morning everyone", "Has anyone tried the new update?", "The meeting moved to 3pm", "Thanks for sharing the link",
    "I lost money on crypto last year, never again", "Is bitcoin still worth buying or is it too late?",
    "Watch out, someone is DMing people pretending to be an admin", "Admins never DM you first, report them",
    "That 'guaranteed profit' message above is a scam, ignore it", "Anyone else getting spam about investment platforms?",
    "Just blocked another 'DM me for details' account", "My cousin got scammed by a fake recovery service",
    "I'll DM you the notes after class", "Can someone send me the slides?", "What time is the game tonight?",
    "The docs are at the project website, check the FAQ", "Please read the pinned message before posting",
    "Happy birthday!", "Congrats on the new job!", "Where do you buy your coffee beans?", "Is the server down for anyone else?",
    "I bought some ETH in 2020 and just held it", "Crypto prices are crazy this week", "Does anyone know a good tax accountant?",
    "We should make a group trip this summer", "The weather here is terrible today", "Who is coming to the meetup on Saturday?",
    "I found a bug in the latest release", "Pull request is up, please review", "Thanks, that fixed it",
    "Send me a message when you get home", "Contact the school office for the form", "You can email the organizer for details",
    "Giveaway winners were announced on the official blog", "Our club is raffling a bike at the fair, tickets are $2",
    "I'm looking for a part-time job, any tips?", "Remote work has been great for me honestly", "Lol that's hilarious",
    "How much did you pay for the flight?", "The recipe calls for 200g of flour", "My dog ate my headphones again",
    "Don't click links from strangers promising free money", "If someone offers to double your bitcoin, it's a scam",
    "Investing in index funds is boring but it works", "Anyone here trade forex? Is it as risky as they say?",
    "Reminder: rent is due on Friday", "The library extended its opening hours", "Can you share the invite link to the study group?",
    "I'll be late, traffic is awful", "Welcome to the group, please introduce yourself", "Great talk today, thanks everyone",
]
EN_HAM_A += [
    "Did anyone finish chapter {k} yet?", "The bus was {k} minutes late again", "I paid ${k} for parking, ridiculous",
    "Our team won {k} to 2 last night", "Who has the answers for question {k}? I got a different result",
    "I think the deadline is the {k}th", "The store is open until {k} pm", "My order number is {o}, still not shipped",
    "Tracking says it's in the warehouse, {o}", "Email me at {m} if you want the file", "The form is at {u}",
    "Docs are here: {u}", "I put the photos in the shared folder {u}", "Call the front desk, extension {k}",
    "Kids have a half day on Friday", "Anyone know a good vet near downtown?", "My cat knocked the plant over again",
    "Finished the book, the ending was wild", "Next book club pick is up for a vote", "Practice starts at {k}, bring water",
    "The build is failing on main, looking into it", "Can you restart the staging server?", "Merged, thanks for the fix",
    "Rust compile times are killing me", "Has anyone used this library in production?", "Try clearing the cache first",
    "I sold my BTC too early, classic", "Crypto twitter is full of hype, be careful", "Someone asked me to send USDT to 'verify' my wallet, lol no",
    "Report and block anyone who says they can recover your funds for a fee", "Real admins will never ask for your seed phrase",
    "That giveaway post is fake, the real account has a blue check", "My uncle fell for a fake investment app, lost a lot",
    "Is it normal for the bank to freeze a card after a trip abroad?", "Customer service refunded me after two days",
    "Happy new year everyone!", "Congrats to the graduates!", "Thank you all for coming today", "Good night, talk tomorrow",
    "The meetup link is in the pinned message", "Please keep this channel on topic", "Welcome aboard, glad to have you",
    "Anyone up for a game tonight?", "New patch nerfed my main again", "I need one more player for the raid",
    "Rent went up again this year", "Where is the cheapest gas around here?", "The farmers market is back on Sunday",
    "I'm selling my old desk, $40, pick up only", "Looking for a roommate, DM me if you know someone",
    "Can someone DM me the homework instructions?", "I'll message you after work", "Text me when you're outside",
    "Free pizza in the break room, first come first served", "The office will be closed on Monday",
    "The school is raising money for the trip, donations welcome at the front office",
]
EN_HAM_A += [
    "Scam alert: anyone saying 'DM me for details' in this group is not an admin",
    "If someone promises guaranteed profit, block and report", "PSA: the 'recover your funds' people are scammers too",
    "Lol another 'earn $500 daily from home' bot just joined", "Please don't click the giveaway link posted above",
    "Admins: can we turn on join verification? Too many 'investment platform' spammers",
    "My aunt sent crypto to a 'trading platform' and can't withdraw. What should she do?",
    "Reported the account that kept posting forex signals", "Never send money to someone who DMs you first",
]
EN_HAM_B = ["thanks!", "lol", "agreed", "me too", "good point", "see you", "haha", "ok", "nice", "stay safe"]


def EN_HAM(r):
    text = (r.choice(EN_HAM_A).replace("{k}", str(r.choice([2, 3, 4, 5, 7, 9, 10, 12, 15, 20, 25, 30, 45])))
            .replace("{o}", str(r.randint(10**9, 10**12))).replace("{m}", r.choice(NAMES).split()[-1].lower().strip(".") + "@" + r.choice(["gmail.com", "outlook.com", "school.edu", "example.org"]))
            .replace("{u}", "https://" + r.choice(["docs.google.com/document/d/", "github.com/", "drive.google.com/drive/folders/", "forms.gle/", "notion.so/"]) + r.choice(HANDLES) + str(r.randint(10, 9999))))
    if r.random() < 0.35:
        text += r.choice([" ", ", ", ". "]) + r.choice(EN_HAM_B)
    if r.random() < 0.2:
        text = text.lower()
    if r.random() < 0.1:
        text += " " + r.choice(["😂", "👍", "🙏", "😅", "🎉"])
    return text
